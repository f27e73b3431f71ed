// Deterministic interleaving for tests of races: a process that reaches a
// named hold point, when $CVGATE_TEST_HOLD names it ("point" or
// "point1,point2") and $CVGATE_TEST_HOLD_DIR is a directory, creates
// <dir>/<point>.reached and waits until <dir>/<point>.go exists. The test
// does what the race needs in between, then releases it. No sleeps decide
// the order. Without the variables a hold point costs one getenv.
#pragma once

namespace cvgate {

void testHold(const char* point);

}  // namespace cvgate

# The Debian package (make -f Makefile.wrapper package; README "Install"):
# the install rules staged under /usr, stripped, with the maintainer scripts
# in packaging/debian. Library dependencies come from dpkg-shlibdeps; the rest
# are what the tools run or read.
set(CVGATE_PACKAGE_MAINTAINER "cvgate maintainers <maintainers@users.noreply.b-seed-50b3e0cc.example>"
  CACHE STRING "Maintainer field of the Debian package")
set(CVGATE_DEB_VERSION "${PROJECT_VERSION}-1")

# /usr/share/doc/cvgate: copyright and changelog.Debian.gz (Debian policy 12.5, 12.7).
string(TIMESTAMP CVGATE_PACKAGE_DATE "%a, %d %b %Y %H:%M:%S +0000" UTC)  # honours SOURCE_DATE_EPOCH
configure_file(packaging/debian/changelog.in ${CMAKE_BINARY_DIR}/packaging/changelog.Debian @ONLY)
add_custom_command(OUTPUT ${CMAKE_BINARY_DIR}/packaging/changelog.Debian.gz
  COMMAND gzip -n -9 -f -k ${CMAKE_BINARY_DIR}/packaging/changelog.Debian
  DEPENDS ${CMAKE_BINARY_DIR}/packaging/changelog.Debian VERBATIM)
add_custom_target(cvgate_changelog ALL DEPENDS ${CMAKE_BINARY_DIR}/packaging/changelog.Debian.gz)
install(FILES packaging/debian/copyright ${CMAKE_BINARY_DIR}/packaging/changelog.Debian.gz
  DESTINATION ${CMAKE_INSTALL_DOCDIR})
install(FILES packaging/debian/lintian-overrides DESTINATION ${CMAKE_INSTALL_DATADIR}/lintian/overrides
  RENAME cvgate)

set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME cvgate)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "release gate for computer-vision models")
set(CPACK_PACKAGE_DESCRIPTION "cvgate measures a production image classifier and a candidate (latency,
errors, throughput, compliance, environment, integration, rollback readiness)
and decides GO, PAUSE or ROLLBACK, acting through a crash-safe model registry.
An hourly systemd timer (cvgate.timer, not enabled) runs the heartbeat.")
set(CPACK_DEBIAN_PACKAGE_MAINTAINER "${CVGATE_PACKAGE_MAINTAINER}")
set(CPACK_DEBIAN_PACKAGE_SECTION science)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
set(CPACK_DEBIAN_PACKAGE_RELEASE 1)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
# Not linked, but run or read: torch's BLAS (README "Dependencies"), the
# heartbeat's jq, flock (util-linux 2.13) and timeout and sync FILE (coreutils
# 8.24; both are Essential, so lintian wants the version), the default data
# set, the postinst's adduser.
set(CPACK_DEBIAN_PACKAGE_DEPENDS
  "libopenblas0-openmp, jq, util-linux (>= 2.13), coreutils (>= 8.24), dataset-fashion-mnist, adduser")
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
  ${PROJECT_SOURCE_DIR}/packaging/debian/postinst ${PROJECT_SOURCE_DIR}/packaging/debian/prerm
  ${PROJECT_SOURCE_DIR}/packaging/debian/postrm ${PROJECT_SOURCE_DIR}/packaging/debian/conffiles)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
set(CPACK_STRIP_FILES ON)
# Stage with DESTDIR under the final prefix, so that InstallEtc.cmake sees
# /usr and places /etc/cvgate and /lib/systemd/system.
set(CPACK_SET_DESTDIR ON)
set(CPACK_INSTALL_PREFIX /usr)
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
include(CPack)

# Install rules (README "Install"). Inside the prefix: tools in bin/, the
# reference models, schemas and docs in share/cvgate/ (found by the tools
# relative to their own directory, lib/common/Install.h), man pages gzipped.
# Beside it: the config and the systemd units, placed by InstallEtc.cmake at
# install time. State goes to /var/lib/cvgate, the installed config's state_dir.

set(CVGATE_INSTALL_DATADIR ${CMAKE_INSTALL_DATADIR}/cvgate)
install(DIRECTORY models/ DESTINATION ${CVGATE_INSTALL_DATADIR}/models FILES_MATCHING PATTERN "*.pt")
install(DIRECTORY schemas/ DESTINATION ${CVGATE_INSTALL_DATADIR}/schemas)
install(DIRECTORY docs/ DESTINATION ${CVGATE_INSTALL_DATADIR}/docs)
install(FILES README.md DESTINATION ${CMAKE_INSTALL_DOCDIR})

# Man pages, gzipped without a name or time stamp (Debian policy 12.1).
file(GLOB cvgate_man_pages CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/man/*.1)
set(cvgate_man_gz)
foreach(page ${cvgate_man_pages})
  get_filename_component(name ${page} NAME)
  set(gz ${CMAKE_BINARY_DIR}/man/${name}.gz)
  add_custom_command(OUTPUT ${gz} COMMAND sh -c "gzip -n -9 -c \"$1\" >\"$2\"" sh ${page} ${gz}
    DEPENDS ${page} VERBATIM)
  list(APPEND cvgate_man_gz ${gz})
endforeach()
file(MAKE_DIRECTORY ${CMAKE_BINARY_DIR}/man)
add_custom_target(cvgate_man_pages ALL DEPENDS ${cvgate_man_gz})
install(FILES ${cvgate_man_gz} DESTINATION ${CMAKE_INSTALL_MANDIR}/man1)

# The installed config: configs/cvgate.toml with the installed paths in place
# of the checkout's (state in /var/lib/cvgate, models in ${datadir}/models).
# Each replaced text must be found, so that an edit of the source config
# cannot silently leave a checkout path in the installed one.
set(cvgate_config ${PROJECT_SOURCE_DIR}/configs/cvgate.toml)
set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS ${cvgate_config})
file(READ ${cvgate_config} text)
foreach(pair
    "# cvgate default configuration. Relative paths are relative to this file.|# cvgate configuration of an installed cvgate; the package marks it a conffile,\n# so an upgrade keeps your edits. Relative paths are relative to this file;\n# a path that starts with \${datadir} is in the installation's data directory,\n# <bindir>/../share/cvgate: /usr/share/cvgate from the package."
    "state_dir = \"../var\"|state_dir = \"/var/lib/cvgate\"  # the installed default"
    "\"../models/fashion-mlp-v1.pt\"|\"\${datadir}/models/fashion-mlp-v1.pt\""
    "\"../models/fashion-cnn-v2.pt\"|\"\${datadir}/models/fashion-cnn-v2.pt\"")
  string(FIND "${pair}" "|" bar)
  string(SUBSTRING "${pair}" 0 ${bar} from)
  math(EXPR bar "${bar} + 1")
  string(SUBSTRING "${pair}" ${bar} -1 to)
  string(FIND "${text}" "${from}" at)
  if(at EQUAL -1)
    message(FATAL_ERROR "configs/cvgate.toml no longer contains '${from}': update cmake/Install.cmake")
  endif()
  string(REPLACE "${from}" "${to}" text "${text}")
endforeach()
file(CONFIGURE OUTPUT ${CMAKE_BINARY_DIR}/packaging/cvgate.toml CONTENT "${text}" @ONLY)

# Beside the prefix, at install time (cpack installs to /usr a build that
# was configured for /usr/local, so the places cannot be fixed here).
install(CODE "set(CVGATE_CONFIG_FILE \"${CMAKE_BINARY_DIR}/packaging/cvgate.toml\")
set(CVGATE_UNITS_SOURCE \"${PROJECT_SOURCE_DIR}/packaging\")
set(CVGATE_UNITS_BUILD \"${CMAKE_BINARY_DIR}/packaging\")
set(CVGATE_BINDIR \"${CMAKE_INSTALL_BINDIR}\")")
install(SCRIPT cmake/InstallEtc.cmake)

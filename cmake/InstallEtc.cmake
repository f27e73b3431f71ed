# Runs at install time (install(SCRIPT) in Install.cmake): places the config
# and the systemd units beside the prefix of this install. A prefix named usr
# keeps them beside itself (/usr: /etc/cvgate, /lib/systemd/system), any other
# inside it (/usr/local: /usr/local/etc/cvgate, /usr/local/lib/systemd/system),
# the rule the tools use to find the config (lib/common/Install.cpp).
get_filename_component(prefix "${CMAKE_INSTALL_PREFIX}" ABSOLUTE)
get_filename_component(name "${prefix}" NAME)
if(name STREQUAL "usr")
  string(REGEX REPLACE "/usr$" "" root "${prefix}")
else()
  set(root "${prefix}")
endif()

# The config is the operator's once installed: a reinstall from source never
# overwrites an edited one, it puts the new default beside it.
set(config_dir "${root}/etc/cvgate")
set(rename cvgate.toml)
if(EXISTS "$ENV{DESTDIR}${config_dir}/cvgate.toml")
  file(SHA256 "$ENV{DESTDIR}${config_dir}/cvgate.toml" have)
  file(SHA256 "${CVGATE_CONFIG_FILE}" want)
  if(NOT have STREQUAL want)
    set(rename cvgate.toml.dist)
    message(STATUS "Keeping the edited ${config_dir}/cvgate.toml; the new default is cvgate.toml.dist")
  endif()
endif()
file(INSTALL "${CVGATE_CONFIG_FILE}" DESTINATION "${config_dir}" RENAME ${rename})

set(CVGATE_FULL_BINDIR "${prefix}/${CVGATE_BINDIR}")
if(IS_ABSOLUTE "${CVGATE_BINDIR}")
  set(CVGATE_FULL_BINDIR "${CVGATE_BINDIR}")
endif()
configure_file("${CVGATE_UNITS_SOURCE}/cvgate.service.in" "${CVGATE_UNITS_BUILD}/cvgate.service" @ONLY)
file(INSTALL "${CVGATE_UNITS_BUILD}/cvgate.service" "${CVGATE_UNITS_SOURCE}/cvgate.timer"
  DESTINATION "${root}/lib/systemd/system")

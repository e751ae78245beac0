# Installation and packaging: public headers, the library, the CLI, the shipped models, a CMake
# package (find_package(gptrec CONFIG) gives gptrec::gptrec) and a pkg-config file (gptrec.pc).
# Included by the top-level CMakeLists.txt once the targets exist.
#
#   <prefix>/include/gptrec/*.hpp                  public headers, with the generated version.hpp
#   <prefix>/<libdir>/libgptrec.a
#   <prefix>/<libdir>/cmake/gptrec/                the CMake package (config, version, targets)
#   <prefix>/<libdir>/pkgconfig/gptrec.pc
#   <prefix>/bin/gptrec                            the CLI
#   <prefix>/bin/gptrec-serve                      the HTTP server that `gptrec serve` runs
#   <prefix>/share/gptrec/models/<name>/           the shipped models (the CLI's default is there)
include(CMakePackageConfigHelpers)

set(GPTREC_INSTALL_CMAKEDIR ${CMAKE_INSTALL_LIBDIR}/cmake/gptrec)
set(GPTREC_INSTALL_MODELSDIR ${CMAKE_INSTALL_DATADIR}/gptrec/models)

install(TARGETS gptrec EXPORT gptrec-targets
        ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
        LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
        RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
install(DIRECTORY ${PROJECT_SOURCE_DIR}/include/gptrec DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}
        FILES_MATCHING PATTERN "*.hpp")
install(FILES ${PROJECT_BINARY_DIR}/include/gptrec/version.hpp
        DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/gptrec)

if(TARGET gptrec_cli)
  install(TARGETS gptrec_cli RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
endif()
if(TARGET gptrec_serve)  # `gptrec serve` runs the gptrec-serve beside it
  install(TARGETS gptrec_serve RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
endif()
# The CLI looks for its default model at <bin>/../share/gptrec/models/online-retail.
if(EXISTS ${PROJECT_SOURCE_DIR}/models)
  install(DIRECTORY ${PROJECT_SOURCE_DIR}/models/ DESTINATION ${GPTREC_INSTALL_MODELSDIR})
endif()

# CMake package. The export carries Eigen3::Eigen and, with OpenMP,
# $<LINK_ONLY:OpenMP::OpenMP_CXX>; gptrec-config.cmake finds both before loading it.
install(EXPORT gptrec-targets NAMESPACE gptrec:: FILE gptrec-targets.cmake
        DESTINATION ${GPTREC_INSTALL_CMAKEDIR})
configure_package_config_file(${PROJECT_SOURCE_DIR}/cmake/gptrec-config.cmake.in
                              ${PROJECT_BINARY_DIR}/gptrec-config.cmake
                              INSTALL_DESTINATION ${GPTREC_INSTALL_CMAKEDIR}
                              PATH_VARS GPTREC_INSTALL_MODELSDIR)
# 0.x: a minor version may break the API, so only the same minor version is compatible.
write_basic_package_version_file(${PROJECT_BINARY_DIR}/gptrec-config-version.cmake
                                 COMPATIBILITY SameMinorVersion)
install(FILES ${PROJECT_BINARY_DIR}/gptrec-config.cmake
              ${PROJECT_BINARY_DIR}/gptrec-config-version.cmake
        DESTINATION ${GPTREC_INSTALL_CMAKEDIR})

# pkg-config. Paths are relative to the .pc file (${pcfiledir}), so that an installation moved
# or made with `cmake --install --prefix DIR` still points at itself.
if(IS_ABSOLUTE "${CMAKE_INSTALL_LIBDIR}")
  message(FATAL_ERROR "gptrec.pc needs a relative CMAKE_INSTALL_LIBDIR: ${CMAKE_INSTALL_LIBDIR}")
endif()
file(RELATIVE_PATH GPTREC_PC_PREFIX_FROM_PCDIR "/prefix/${CMAKE_INSTALL_LIBDIR}/pkgconfig"
     "/prefix")
string(REGEX REPLACE "/$" "" GPTREC_PC_PREFIX_FROM_PCDIR "${GPTREC_PC_PREFIX_FROM_PCDIR}")  # "../.."
if(IS_ABSOLUTE "${CMAKE_INSTALL_INCLUDEDIR}")
  set(GPTREC_PC_INCLUDEDIR "${CMAKE_INSTALL_INCLUDEDIR}")
else()
  set(GPTREC_PC_INCLUDEDIR "\${prefix}/${CMAKE_INSTALL_INCLUDEDIR}")
endif()
# The library's public compile definitions (EIGEN_MAX_ALIGN_BYTES: Eigen's ABI across the boundary).
get_target_property(gptrec_public_definitions gptrec INTERFACE_COMPILE_DEFINITIONS)
set(GPTREC_PC_CFLAGS_EXTRA "")
foreach(definition IN LISTS gptrec_public_definitions)
  string(APPEND GPTREC_PC_CFLAGS_EXTRA " -D${definition}")
endforeach()
# The library's instruction set (CMakeLists.txt: code sharing Eigen with it must match).
if(GPTREC_NATIVE)
  string(APPEND GPTREC_PC_CFLAGS_EXTRA " -march=native")
endif()
# The static library's own link needs: OpenMP's runtime (its flag links libgomp).
set(GPTREC_PC_LIBS_EXTRA "")
if(GPTREC_OPENMP)
  set(GPTREC_PC_LIBS_EXTRA "${OpenMP_CXX_FLAGS}")
endif()
configure_file(${PROJECT_SOURCE_DIR}/cmake/gptrec.pc.in ${PROJECT_BINARY_DIR}/gptrec.pc @ONLY)
install(FILES ${PROJECT_BINARY_DIR}/gptrec.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)

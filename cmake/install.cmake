# `cmake --install <build> [--prefix P]`: headers, the static libraries, the luo-lifecycle tool,
# a CMake package (find_package(luo-lifecycle CONFIG) gives luo::model, luo::impl,
# luo::adapters, luo::proofs and luo::capi) and a pkg-config file (luo-lifecycle.pc, relocatable:
# its prefix is found from its own location). tests/install/ builds a consumer against an installed tree.
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

set(LUO_INSTALLED_LIBRARIES luo_model luo_impl luo_adapters luo_proofs luo_capi)
foreach(lib ${LUO_INSTALLED_LIBRARIES})
  string(REPLACE "luo_" "" name ${lib})
  set_target_properties(${lib} PROPERTIES EXPORT_NAME ${name})
endforeach()
# An ASan+UBSan build installs instrumented libraries: their users must link the runtimes too.
set(LUO_SANITIZE_LINK_FLAGS "")
if(LUO_SANITIZE)
  set(LUO_SANITIZE_LINK_FLAGS "-fsanitize=address,undefined")
  target_link_options(luo_model INTERFACE $<INSTALL_INTERFACE:${LUO_SANITIZE_LINK_FLAGS}>)
endif()

install(TARGETS ${LUO_INSTALLED_LIBRARIES} EXPORT luo-lifecycle-targets
        ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
        INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(TARGETS luo-lifecycle RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
foreach(dir model impl adapters proofs capi)
  install(DIRECTORY ${PROJECT_SOURCE_DIR}/${dir}/include/ DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
endforeach()

set(LUO_CMAKE_DIR ${CMAKE_INSTALL_LIBDIR}/cmake/luo-lifecycle)
install(EXPORT luo-lifecycle-targets NAMESPACE luo:: DESTINATION ${LUO_CMAKE_DIR})
configure_package_config_file(${PROJECT_SOURCE_DIR}/cmake/luo-lifecycle-config.cmake.in
                              ${PROJECT_BINARY_DIR}/luo-lifecycle-config.cmake
                              INSTALL_DESTINATION ${LUO_CMAKE_DIR})
write_basic_package_version_file(${PROJECT_BINARY_DIR}/luo-lifecycle-config-version.cmake
                                 COMPATIBILITY SameMinorVersion)
install(FILES ${PROJECT_BINARY_DIR}/luo-lifecycle-config.cmake
              ${PROJECT_BINARY_DIR}/luo-lifecycle-config-version.cmake
        DESTINATION ${LUO_CMAKE_DIR})

file(RELATIVE_PATH LUO_PC_TO_PREFIX /${CMAKE_INSTALL_LIBDIR}/pkgconfig /)
configure_file(${PROJECT_SOURCE_DIR}/cmake/luo-lifecycle.pc.in
               ${PROJECT_BINARY_DIR}/luo-lifecycle.pc @ONLY)
install(FILES ${PROJECT_BINARY_DIR}/luo-lifecycle.pc
        DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)

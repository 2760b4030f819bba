# Every third-party library comes from Debian's packages.
find_package(PkgConfig REQUIRED)
find_package(Threads REQUIRED)
find_package(tl-expected REQUIRED)
find_package(nlohmann_json 3.10 REQUIRED)
find_package(spdlog REQUIRED)
find_package(CLI11 REQUIRED)
find_package(CURL REQUIRED)
pkg_check_modules(ZMQ REQUIRED IMPORTED_TARGET libzmq)
pkg_check_modules(TOMLPP REQUIRED IMPORTED_TARGET tomlplusplus)
pkg_check_modules(HTTPLIB REQUIRED IMPORTED_TARGET cpp-httplib)

# cppzmq is header-only; its CMake package insists on libzmq's, which Debian does
# not ship, so the header is used directly on top of pkg-config's libzmq.
find_path(CPPZMQ_INCLUDE_DIR zmq.hpp REQUIRED)
add_library(planificador_cppzmq INTERFACE)
target_include_directories(planificador_cppzmq SYSTEM INTERFACE ${CPPZMQ_INCLUDE_DIR})
target_link_libraries(planificador_cppzmq INTERFACE PkgConfig::ZMQ)

if(PLANIFICADOR_TESTS)
  find_package(GTest REQUIRED)
endif()

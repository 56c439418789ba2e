# Every dependency comes from Debian 12's packages (script/deps installs them).
find_package(Threads REQUIRED)
find_package(OpenSSL 3 REQUIRED)
find_package(SQLite3 REQUIRED)
find_package(Boost 1.74 REQUIRED)          # header-only use: Asio, Beast
find_package(RapidJSON CONFIG QUIET)
if(NOT RapidJSON_FOUND)
  find_path(RAPIDJSON_INCLUDE_DIRS rapidjson/document.h REQUIRED)
endif()
find_package(PkgConfig REQUIRED)
pkg_check_modules(UUID REQUIRED IMPORTED_TARGET uuid)
if(TANDEM_BUILD_TESTS)
  find_package(GTest REQUIRED)
  include(GoogleTest)
endif()

# One interface target for Boost.Asio/Beast with the definitions every user needs.
add_library(tandem_boost_net INTERFACE)
target_link_libraries(tandem_boost_net INTERFACE Boost::boost Threads::Threads OpenSSL::SSL OpenSSL::Crypto)
target_compile_definitions(tandem_boost_net INTERFACE BOOST_ASIO_NO_DEPRECATED BOOST_BEAST_USE_STD_STRING_VIEW)

add_library(tandem_rapidjson INTERFACE)
if(RAPIDJSON_INCLUDE_DIRS)
  target_include_directories(tandem_rapidjson SYSTEM INTERFACE ${RAPIDJSON_INCLUDE_DIRS})
endif()
target_compile_definitions(tandem_rapidjson INTERFACE RAPIDJSON_HAS_STDSTRING=1)

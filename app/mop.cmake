# The mop executable: app/main.cpp and the wiring of listeners to services. Built at build/mop.
add_library(mop_app STATIC ${CMAKE_CURRENT_SOURCE_DIR}/standalone.cpp ${CMAKE_CURRENT_SOURCE_DIR}/proxy.cpp
            ${CMAKE_CURRENT_SOURCE_DIR}/store_command.cpp ${CMAKE_CURRENT_SOURCE_DIR}/authentication.cpp
            ${CMAKE_CURRENT_SOURCE_DIR}/mqtt_listeners.cpp
            ${CMAKE_CURRENT_SOURCE_DIR}/token_command.cpp ${CMAKE_CURRENT_SOURCE_DIR}/shutdown.cpp)
target_link_libraries(mop_app PUBLIC mop_config mop_ready_line mop_mqtt_server mop_pulsar_server mop_service_embedded mop_storage_ledger mop_http
                      mop_auth mop_cluster mop_asio_executor mop_periodic)
# The one version (CMakeLists.txt's project()): `mop --version`, $SYS/broker/version, the package.
target_compile_definitions(mop_app PUBLIC MOP_VERSION="${PROJECT_VERSION}")

add_executable(mop ${CMAKE_CURRENT_SOURCE_DIR}/main.cpp)
target_link_libraries(mop PRIVATE mop_app mop_loadgen)
set_target_properties(mop PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR})
if(MOP_JEMALLOC AND NOT MOP_SANITIZE)
  # Linked as a shared library, jemalloc's malloc/free replace glibc's for the whole process,
  # RocksDB included.
  find_library(MOP_JEMALLOC_LIBRARY NAMES jemalloc REQUIRED)
  target_link_libraries(mop PRIVATE ${MOP_JEMALLOC_LIBRARY})
endif()

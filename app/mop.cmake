# The mop executable: app/main.cpp and the wiring of listeners to services. Built at build/mop.
add_library(mop_app STATIC ${CMAKE_CURRENT_SOURCE_DIR}/standalone.cpp ${CMAKE_CURRENT_SOURCE_DIR}/store_command.cpp)
target_link_libraries(mop_app PUBLIC mop_config mop_mqtt_server mop_pulsar_server mop_service_embedded mop_storage_ledger)

add_executable(mop ${CMAKE_CURRENT_SOURCE_DIR}/main.cpp)
target_link_libraries(mop PRIVATE mop_app mop_loadgen)
set_target_properties(mop PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR})

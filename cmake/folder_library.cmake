# kata_folder_library(NAME [DEPS ...]): a static library of every .cc below the calling folder
# (tests and fuzzers live under tests/, not here). Creates nothing while the folder has no sources,
# so a folder can exist in the tree before its first code lands.
function(kata_folder_library name)
  cmake_parse_arguments(ARG "" "" "DEPS;EXCLUDE" ${ARGN})
  file(GLOB_RECURSE sources CONFIGURE_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/*.cc)
  foreach(pattern IN LISTS ARG_EXCLUDE)
    list(FILTER sources EXCLUDE REGEX "${pattern}")
  endforeach()
  if(NOT sources)
    return()
  endif()
  add_library(${name} STATIC ${sources})
  target_include_directories(${name} PUBLIC ${CMAKE_SOURCE_DIR})
  target_link_libraries(${name} PUBLIC kata_common ${ARG_DEPS})
  set_property(GLOBAL APPEND PROPERTY KATA_LIBRARIES ${name})
endfunction()

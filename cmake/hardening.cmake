# Compiler and linker flags every target gets: strict warnings, and the hardening a root daemon and
# a setuid-adjacent CLI should ship with.
add_compile_options(-Wall -Wextra -Wpedantic -Wshadow -Wnon-virtual-dtor -Wcast-align
                    -Wunused -Woverloaded-virtual -Wformat=2 -Wimplicit-fallthrough)
if(KATA_WERROR)
  add_compile_options(-Werror)
  # g++ 12 at -O3 reports maybe-uninitialized inside kj::Maybe<kj::Promise<>> destructors (a known
  # false positive of its flow analysis); keep it a warning, not a build failure.
  if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU")
    add_compile_options(-Wno-error=maybe-uninitialized)
  endif()
endif()

add_compile_options(-fstack-protector-strong -fstack-clash-protection -fcf-protection)
if(NOT KATA_SANITIZE AND NOT KATA_COVERAGE AND NOT KATA_FUZZ)
  # _FORTIFY_SOURCE needs optimization; sanitizer and coverage builds run at -O0/-O1.
  add_compile_definitions(_FORTIFY_SOURCE=2)
endif()
add_link_options(-pie -Wl,-z,relro -Wl,-z,now -Wl,-z,noexecstack)

if(KATA_SANITIZE)
  add_compile_options(-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all)
  add_link_options(-fsanitize=address,undefined)
endif()
if(KATA_COVERAGE)
  add_compile_options(--coverage -O0)
  add_link_options(--coverage)
endif()

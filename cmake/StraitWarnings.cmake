# SPDX-License-Identifier: Apache-2.0
# Warning flags shared by every target of the project. STRAIT_WERROR (on in the developer
# preset) turns them into errors.
function(strait_set_warnings target)
  target_compile_options(${target} PRIVATE -Wall -Wextra -Wpedantic -Wshadow
    -Wnon-virtual-dtor -Wold-style-cast -Wcast-align -Wunused -Woverloaded-virtual
    -Wdouble-promotion -Wformat=2 -Wimplicit-fallthrough
    # Designated initializers leave fields to their defaults on purpose.
    -Wno-missing-field-initializers
    # GCC 12 misreads the allocation of Asio's coroutine frames.
    -Wno-mismatched-new-delete)
  if(STRAIT_WERROR)
    target_compile_options(${target} PRIVATE -Werror)
  endif()
endfunction()

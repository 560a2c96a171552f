# SPDX-License-Identifier: Apache-2.0
# Fails when the embedding example shown in README.md differs from examples/embed_minimal.cpp,
# the file the build compiles and the suite runs.
file(READ ${SOURCE_DIR}/README.md readme)
file(READ ${SOURCE_DIR}/examples/embed_minimal.cpp example)
string(REGEX REPLACE "^// SPDX-License-Identifier: Apache-2.0\n" "" example "${example}")
string(FIND "${readme}" "${example}" at)
if(at EQUAL -1)
  message(FATAL_ERROR "README.md does not show examples/embed_minimal.cpp as it is; copy the "
                      "file (without its SPDX line) into the README's Embedding section")
endif()

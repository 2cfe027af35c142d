# Writes OUT, a C file defining `const char NAME[]` (the bytes of IN, then a NUL) and
# `const size_t NAME_len`: the dashboard's page is one HTML file in the source tree and one
# array in the binary, so pgsift serves it with nothing to install beside it.
# Run as: cmake -DIN=file -DOUT=file.c -DNAME=symbol -P embed.cmake
file(READ "${IN}" hex HEX)
string(LENGTH "${hex}" n)
math(EXPR bytes "${n} / 2")
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," body "${hex}")
string(REGEX REPLACE "((0x..,){16})" "\\1\n" body "${body}")
file(WRITE "${OUT}" "/* generated from ${IN} by proxy/embed.cmake: do not edit */\n#include <stddef.h>\n"
  "const char ${NAME}[] = {\n${body}0x00};\nconst size_t ${NAME}_len = ${bytes};\n")

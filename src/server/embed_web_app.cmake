# cmake -DIN=web/index.html -DOUT=web_app.cc -P embed_web_app.cmake
# Writes the file as a C++ raw string literal, in pieces below compilers' literal-length limits.
file(READ ${IN} content)
string(LENGTH "${content}" n)
set(out "// Generated from ${IN} by embed_web_app.cmake; do not edit.\n#include \"server/web_app.h\"\n\nnamespace r1::server {\n\nconst char kWebAppHtml[] =\n")
set(pos 0)
while(pos LESS n)
  string(SUBSTRING "${content}" ${pos} 8000 piece)
  string(APPEND out "R\"r1web(${piece})r1web\"\n")
  math(EXPR pos "${pos} + 8000")
endwhile()
string(APPEND out ";\n\n}  // namespace r1::server\n")
file(WRITE ${OUT} "${out}")

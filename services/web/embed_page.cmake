# Writes the page INPUT into the C++ header OUTPUT as one raw string literal (kWebPage).
# Run by services/CMakeLists.txt's custom command: cmake -DINPUT=... -DOUTPUT=... -P this file.
file(READ ${INPUT} page)
set(delimiter "ragkit_page")
string(FIND "${page}" ")${delimiter}\"" clash)
if(NOT clash EQUAL -1)
  message(FATAL_ERROR "${INPUT} contains the raw-string delimiter )${delimiter}\"")
endif()
get_filename_component(page_name ${INPUT} NAME)
file(WRITE ${OUTPUT}.tmp
  "// Generated from services/web/${page_name} by services/web/embed_page.cmake; do not edit.\n"
  "#pragma once\n"
  "namespace ragkit::services::generated {\n"
  "inline constexpr char kWebPageName[] = \"${page_name}\";\n"
  "inline constexpr char kWebPage[] = R\"${delimiter}(${page})${delimiter}\";\n"
  "}  // namespace ragkit::services::generated\n")
file(COPY_FILE ${OUTPUT}.tmp ${OUTPUT} ONLY_IF_DIFFERENT)
file(REMOVE ${OUTPUT}.tmp)

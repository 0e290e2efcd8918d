# Writes the man page mop.1.gz from `mop --help` (run by packaging/CMakeLists.txt after mop is
# built): cmake -DMOP=<binary> -DVERSION=<v> -DOUT=<dir> -P man.cmake
execute_process(COMMAND ${MOP} --help OUTPUT_VARIABLE help RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "${MOP} --help failed (${rc})")
endif()
# roff: backslashes doubled, and a line starting with . or ' must not read as a request.
string(REPLACE "\\" "\\\\" help "${help}")
string(REGEX REPLACE "(^|\n)([.'])" "\\1\\\\&\\2" help "${help}")
file(WRITE ${OUT}/mop.1
     ".TH MOP 1 \"\" \"mop ${VERSION}\" \"User Commands\"\n"
     ".SH NAME\nmop \\- MQTT and Apache Pulsar protocol broker, standalone\n"
     ".SH SYNOPSIS\n.B mop\n[\\fBstandalone\\fR] [\\fB\\-c\\fR \\fIFILE\\fR] [\\fB\\-\\-key=value\\fR ...]\n"
     ".SH DESCRIPTION\nThe text of \\fBmop \\-\\-help\\fR:\n.PP\n.nf\n${help}.fi\n"
     ".SH FILES\n.TP\n/etc/mop/standalone.conf\nthe configuration the systemd unit mop.service starts with\n"
     ".TP\n/var/lib/mop\nthe store (dataDir)\n")
execute_process(COMMAND gzip -9nf ${OUT}/mop.1 RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "gzip ${OUT}/mop.1 failed (${rc})")
endif()

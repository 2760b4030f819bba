# planificador_sanitizers: -fsanitize=<PLANIFICADOR_SANITIZE> on every target of ours.
add_library(planificador_sanitizers INTERFACE)
if(PLANIFICADOR_SANITIZE)
  target_compile_options(planificador_sanitizers INTERFACE
    -fsanitize=${PLANIFICADOR_SANITIZE} -fno-omit-frame-pointer -fno-sanitize-recover=all)
  target_link_options(planificador_sanitizers INTERFACE -fsanitize=${PLANIFICADOR_SANITIZE})
endif()

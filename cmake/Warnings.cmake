# planificador_warnings: the warning set every target of ours builds with; errors under
# PLANIFICADOR_WERROR (on in the test command and CI, off for whoever packages a release:
# GCC 12 at -O3 warns -Wrestrict inside libstdc++'s char_traits, a known false positive).
# planificador_hardening: fortify, stack protection and full RELRO.
add_library(planificador_warnings INTERFACE)
target_compile_options(planificador_warnings INTERFACE
  -Wall -Wextra -Wpedantic -Wshadow -Wconversion -Wnon-virtual-dtor -Wold-style-cast
  -Wimplicit-fallthrough -Wformat=2 $<$<BOOL:${PLANIFICADOR_WERROR}>:-Werror>)

add_library(planificador_hardening INTERFACE)
target_compile_options(planificador_hardening INTERFACE
  -fstack-protector-strong -fstack-clash-protection
  $<$<NOT:$<CONFIG:Debug>>:-D_FORTIFY_SOURCE=3>)
target_link_options(planificador_hardening INTERFACE -Wl,-z,relro,-z,now)

# Applies both to a target of ours.
function(planificador_target target)
  target_link_libraries(${target} PRIVATE planificador_warnings planificador_hardening
                        planificador_sanitizers)
endfunction()

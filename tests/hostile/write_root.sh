# Tries to write outside the work directory. Exits 0 when every write was refused.
status=0
for target in /planted /etc/planted /usr/bin/planted /planificador/planted /etc/passwd; do
  if (echo planted >>"$target") 2>/dev/null; then
    echo "wrote $target"
    status=1
  else
    echo "refused $target"
  fi
done
exit $status

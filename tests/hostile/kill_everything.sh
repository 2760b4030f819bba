# Kills every process it may signal (kill(2) with pid -1 spares only itself and init).
sleep 100 &
kill -9 -1
echo "still here"

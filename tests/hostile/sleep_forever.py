# Sleeps without end: uses no CPU, so only the wall-clock limit can end it.
import time

while True:
    time.sleep(3600)

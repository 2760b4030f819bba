# Grows a list of 1 MiB byte strings without end (each one really written).
blocks = []
while True:
    blocks.append(bytes([len(blocks) & 0xff]) * (1 << 20))

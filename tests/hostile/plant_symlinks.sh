# Plants symlinks where the next task's files will be written (input.txt, data/,
# main.sh), pointing out of the work directory, hoping the writer follows them.
ln -s /etc/passwd /work/input.txt
ln -s /etc /work/data
ln -s /tmp/elsewhere /work/notes.txt
mv /work/main.sh /work/old.sh && ln -s /tmp/elsewhere /work/main.sh
ln -s /work /tmp/work-link
echo planted

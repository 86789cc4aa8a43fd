#!/bin/bash
#SBATCH --job-name=jiriaf-perlmutter
#SBATCH --nodes=2
#SBATCH --time=00:30:00
#SBATCH --constraint=cpu
#SBATCH --qos=debug
#SBATCH --account=m0000
#SBATCH --output=/home/jiriaf/jiriaf-fw/perlmutter/launches/fw1-launch1/slurm-%j.out
#SBATCH --error=/home/jiriaf/jiriaf-fw/perlmutter/launches/fw1-launch1/slurm-%j.out
#SBATCH --chdir=/home/jiriaf/jiriaf-fw/perlmutter/launches/fw1-launch1

# jiriaf-fw pilot job: runs this launch directory's FireWorks rocket offline, so no database is needed.
cd /home/jiriaf/jiriaf-fw/perlmutter/launches/fw1-launch1 || exit 1

# The traps forward Slurm's TERM (or an early USR1 from --signal) to the rocket. A TERM that comes before
# the rocket starts ends the job.
rocket_pid=
interrupted=0
forward_signal() {
    interrupted=1
    if [ -n "$rocket_pid" ]; then
        kill -s "$1" "$rocket_pid" 2>/dev/null || true
    elif [ "$1" = TERM ]; then
        exit 143
    fi
}
trap 'forward_signal TERM' TERM
trap 'forward_signal USR1' USR1

# The rocket runs in the background because bash defers a trap until a foreground command ends.
/opt/jiriaf-fw/bin/python -m fireworks.scripts.rlaunch_run singleshot --offline &
rocket_pid=$!
echo "jiriaf-fw: batch shell $$ started the rocket as process $rocket_pid" >&2

# A trapped signal makes wait return at once with a status above 128; then wait again, so the job ends
# with the rocket's own exit status. A second wait on a process already collected returns 127.
status=
while :; do
    interrupted=0
    wait "$rocket_pid"
    code=$?
    if [ "$code" -eq 127 ] && [ -n "$status" ]; then
        break
    fi
    status=$code
    if [ "$interrupted" -eq 0 ] || [ "$code" -le 128 ]; then
        break
    fi
done
echo "jiriaf-fw: the rocket exited with status $status" >&2
exit "$status"

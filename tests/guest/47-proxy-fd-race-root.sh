# 44-proxy-fd-race as root inside the container (the strongest in-container
# attacker short of CAP_SYS_ADMIN on the host); a test of its own so each
# user's race has the whole per-test time limit.
FD_RACE_USERS=root
. /usr/lib/fakegpu/tests/44-proxy-fd-race.sh

#!/usr/bin/env bash
# usage: ceph.sh DIR  — a single-host Ceph for tests: one monitor on 127.0.0.1, one
# manager, one BlueStore OSD on a 4 GiB sparse file, cephx on, pool "rbd" ready for RBD
# images. Prints DIR/ceph.conf. Daemons write pid files to DIR/run/*.pid; stop them with
# kill. Needs the ceph-mon, ceph-osd, ceph-mgr, ceph-common and uuid-runtime packages.
set -euo pipefail
D=$(realpath -m "$1"); IP=127.0.0.1
rm -rf "$D"; mkdir -p "$D"/{mon,osd,mgr,run,log,keys}
FSID=$(uuidgen)
cat > "$D/ceph.conf" <<CONF
[global]
fsid = $FSID
mon_host = [v2:$IP:3300,v1:$IP:6789]
public_network = $IP/32
auth_cluster_required = cephx
auth_service_required = cephx
auth_client_required = cephx
keyring = $D/keys/\$cluster.\$name.keyring
run_dir = $D/run
admin_socket = $D/run/\$cluster-\$name.\$pid.asok
log_file = $D/log/\$cluster-\$name.log
pid_file = $D/run/\$cluster-\$name.pid
osd_pool_default_size = 1
osd_pool_default_min_size = 1
osd_pool_default_pg_num = 8
osd_pool_default_pgp_num = 8
mon_allow_pool_size_one = true
mon_warn_on_pool_no_redundancy = false
mon_data_avail_warn = 5
osd_crush_chooseleaf_type = 0
mon_allow_pool_delete = true
[mon]
mon_data = $D/mon/\$cluster-\$id
keyring = $D/mon/\$cluster-\$id/keyring
[mgr]
mgr_data = $D/mgr/\$cluster-\$id
[osd]
osd_data = $D/osd/\$cluster-\$id
osd_objectstore = bluestore
bluestore_block_create = true
bluestore_block_size = 4294967296
bluestore_fsck_on_mkfs = false
osd_memory_target = 1073741824
bluestore_cache_autotune = false
bluestore_cache_size = 268435456
osd_op_num_shards = 1
osd_op_num_threads_per_shard = 2
CONF
C=(-c "$D/ceph.conf")
ceph-authtool --create-keyring "$D/keys/ceph.mon.keyring" --gen-key -n mon. --cap mon 'allow *' >/dev/null
ceph-authtool --create-keyring "$D/keys/ceph.client.admin.keyring" --gen-key -n client.admin \
  --cap mon 'allow *' --cap osd 'allow *' --cap mgr 'allow *' --cap mds 'allow *' >/dev/null
ceph-authtool "$D/keys/ceph.mon.keyring" --import-keyring "$D/keys/ceph.client.admin.keyring" >/dev/null
monmaptool --create --addv a "[v2:$IP:3300,v1:$IP:6789]" --fsid "$FSID" "$D/keys/monmap" >/dev/null
ceph-mon "${C[@]}" --mkfs -i a --monmap "$D/keys/monmap" --keyring "$D/keys/ceph.mon.keyring"
ceph-mon "${C[@]}" -i a
timeout 60 ceph "${C[@]}" -s >/dev/null
mkdir -p "$D/mgr/ceph-x"
ceph "${C[@]}" auth get-or-create mgr.x mon 'allow profile mgr' osd 'allow *' mds 'allow *' \
  -o "$D/keys/ceph.mgr.x.keyring"
ceph-mgr "${C[@]}" -i x
UUID=$(uuidgen)
ceph-authtool --create-keyring "$D/keys/ceph.osd.0.keyring" --gen-key -n osd.0 >/dev/null
ceph "${C[@]}" auth add osd.0 osd 'allow *' mon 'allow profile osd' mgr 'allow profile osd' \
  -i "$D/keys/ceph.osd.0.keyring"
ID=$(ceph "${C[@]}" osd new "$UUID" 0)
mkdir -p "$D/osd/ceph-$ID"
ceph-osd "${C[@]}" -i "$ID" --mkfs --osd-uuid "$UUID" >/dev/null 2>&1
ceph-osd "${C[@]}" -i "$ID"
for _ in $(seq 60); do
  ceph "${C[@]}" osd stat 2>/dev/null | grep -q '1 up.*1 in' && break
  sleep 1
done
ceph "${C[@]}" osd pool create rbd 8 >/dev/null 2>&1
rbd "${C[@]}" pool init rbd
echo "$D/ceph.conf"

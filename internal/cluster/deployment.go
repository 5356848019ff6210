package cluster

import (
	"fmt"
	"hash/fnv"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"

	dbconfig "github.com/lni/dragonboat/v4/config"

	"github.com/longboat/longboat/internal/config"
)

// dragonboat drops every Raft message and snapshot chunk whose deployment
// id is not its NodeHost's, so a broker of another cluster that reaches
// this one's Raft address (a reused address, a copied Compose file) cannot
// vote or append here. The id is also part of dragonboat's on-disk layout
// (NodeHostDir/<hostname>/<deployment id, 20 digits>/) and recorded in the
// flag file there, which refuses another id: so a data directory keeps the
// id it was created with, recorded in identity.json, and only new clusters
// get one derived from their cluster id.

// legacyDeploymentID is what dragonboat uses when none is set (its
// settings.UnmanagedDeploymentID): the id of every data directory made
// before deployment ids were derived, shared by all such clusters.
const legacyDeploymentID uint64 = 1

// deploymentIDFor derives a new cluster's deployment id from its cluster
// id: 64 bits of FNV-1a, never 0 (dragonboat's "unset") or the legacy id.
func deploymentIDFor(clusterID string) uint64 {
	h := fnv.New64a()
	_, _ = h.Write([]byte("longboat deployment " + clusterID))
	d := h.Sum64()
	if d <= legacyDeploymentID {
		d += 2
	}
	return d
}

var deploymentDirRE = regexp.MustCompile(`^[0-9]{20}$`)

// onDiskDeploymentID is the deployment id of the Raft data already in
// dataDir (the name of dragonboat's directory under raft/<hostname>/), or
// the legacy id when there is none: a data directory from before
// deployment ids keeps the one its Raft log was written under.
func onDiskDeploymentID(dataDir string) (uint64, error) {
	dirs, err := filepath.Glob(filepath.Join(dataDir, "raft", "*", "*"))
	if err != nil {
		return 0, err
	}
	found := map[uint64]bool{}
	for _, d := range dirs {
		if st, err := os.Stat(d); err != nil || !st.IsDir() || !deploymentDirRE.MatchString(filepath.Base(d)) {
			continue
		}
		id, err := strconv.ParseUint(filepath.Base(d), 10, 64)
		if err == nil {
			found[id] = true
		}
	}
	switch len(found) {
	case 0:
		return legacyDeploymentID, nil
	case 1:
		for id := range found {
			return id, nil
		}
	}
	return 0, fmt.Errorf("%s holds Raft data of several deployment ids (%v): keep the directory of the one named in identity.json, or restore it from a backup", filepath.Join(dataDir, "raft"), sortedIDs(found))
}

// newMemberDeployment decides, for a broker whose data directory is empty
// and which may start (judgeFresh said so), the cluster id to propose and
// the deployment id to run with, from the peers' identity reports and this
// broker's own random cluster id proposal:
//   - peers that run with a deployment id: take it (all must agree), and
//     the cluster id they agreed on while their __meta has none yet;
//   - peers of a cluster from before deployment ids (a cluster id but no
//     deployment id): the legacy id;
//   - otherwise a new cluster: the proposal of the lowest node id heard
//     (this broker's included) becomes the cluster id, so that brokers that
//     heard each other agree on it, and the deployment id derives from it;
//   - a multi-broker cluster without --initial-members-http cannot agree
//     on anything before Raft runs: the legacy id.
func newMemberDeployment(self uint64, proposal string, peersConfigured bool, answers map[uint64]IdentityReport) (clusterID string, deploymentID uint64, why string, err error) {
	running := map[uint64][]uint64{}
	runningProposal := ""
	legacy := false
	for _, peer := range sortedIDs(answers) {
		a := answers[peer]
		switch {
		case a.DeploymentID != 0:
			running[a.DeploymentID] = append(running[a.DeploymentID], peer)
			if a.ClusterIDProposal != "" {
				runningProposal = a.ClusterIDProposal
			}
		case a.ClusterID != "":
			legacy = true
		}
	}
	switch {
	case len(running) > 1:
		return "", 0, "", fmt.Errorf("the other brokers run with different Raft deployment ids (deployment id: node ids %v): they are not one cluster; check --initial-members-http", running)
	case len(running) == 1:
		for d, peers := range running {
			return runningProposal, d, fmt.Sprintf("nodes %v run with it", peers), nil
		}
	case legacy:
		return "", legacyDeploymentID, "the cluster's brokers predate derived deployment ids", nil
	case !peersConfigured:
		return "", legacyDeploymentID, "no --initial-members-http: the brokers cannot agree on a cluster id before Raft starts", nil
	}
	ids := []uint64{self}
	proposals := map[uint64]string{self: proposal}
	for peer, a := range answers {
		if a.ClusterIDProposal != "" {
			ids = append(ids, peer)
			proposals[peer] = a.ClusterIDProposal
		}
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	cid := proposals[ids[0]]
	return cid, deploymentIDFor(cid), fmt.Sprintf("new cluster, cluster id proposed by node %d", ids[0]), nil
}

// raftTransport fills in the NodeHost's deployment id and, with --raft-tls,
// mutual TLS with the broker's certificate and the client CA: dragonboat
// then requires and verifies a peer's client certificate against the CA
// and checks the peer's server certificate against the host of its Raft
// address. It reads the files when the NodeHost starts (the server side)
// and at each new connection (the client side).
func raftTransport(nhc *dbconfig.NodeHostConfig, cfg *config.Config, deploymentID uint64) {
	nhc.DeploymentID = deploymentID
	if !cfg.RaftTLS {
		return
	}
	nhc.MutualTLS = true
	nhc.CAFile = cfg.TLS.ClientCAFile
	nhc.CertFile = cfg.TLS.CertFile
	nhc.KeyFile = cfg.TLS.KeyFile
}

package engine

import (
	"fmt"
	"slices"

	"github.com/ctsync/ctsync/config"
	"github.com/ctsync/ctsync/filter"
)

var (
	stageKinds = map[config.StageKind]filter.Kind{
		config.StageProtocol: filter.KindProtocol,
		config.StageAddress:  filter.KindAddress,
		config.StageTCPState: filter.KindTCPState,
	}
	filterPolicies = map[config.FilterPolicy]filter.Policy{
		config.PolicyAccept: filter.Accept,
		config.PolicyIgnore: filter.Ignore,
	}
)

// FilterSettings translates the configured filter stages into filter's
// settings, in order. Where the chain runs (c.RunIn) is the engine's
// business: run_in = "kernel" compiles the same settings with filter/kbpf
// for the event socket, and the user-space chain still judges dumps, as in
// conntrackd.
func FilterSettings(c config.FilterSettings) (filter.Settings, error) {
	var out filter.Settings
	for i, st := range c.Stages {
		kind, ok := stageKinds[st.Kind]
		if !ok {
			return filter.Settings{}, fmt.Errorf("filter stage %d: unknown kind %s", i+1, st.Kind)
		}
		policy, ok := filterPolicies[st.Policy]
		if !ok {
			return filter.Settings{}, fmt.Errorf("filter stage %d: unknown policy %s", i+1, st.Policy)
		}
		fs := filter.Stage{
			Kind:      kind,
			Policy:    policy,
			Protocols: slices.Clone(st.Protocols),
			Prefixes:  slices.Clone(st.Prefixes),
		}
		for _, s := range st.TCPStates {
			// Both number states as the kernel's enum tcp_conntrack.
			fs.TCPStates = append(fs.TCPStates, filter.TCPState(s))
		}
		out.Stages = append(out.Stages, fs)
	}
	return out, nil
}

// Package modes runs the connectivity-modes scenarios on the testnet with
// its public network (compose.public.yaml): calls in onion mode and in the
// STUN/TURN fallback modes a user must consent to, each checked for what
// it may and may not expose (no packet outside Lokinet in onion mode, the
// TURN server's counters, the SDP's candidates), with a report per run.
// `testnet-runner modes` and `make testnet-modes` drive it.
package modes

// Package runner drives calls through the docker compose testnet and
// measures them: mouth-to-ear delay from audio (a chirp train found by
// cross-correlation in the callee's recording, on the host clock both
// containers share), setup time, the path's RTT and jitter, lokicall's own
// statistics, the leak proof and relay failure. It writes JSON, CSV, a
// Markdown summary and PNG plots per run.
//
// It talks to the testnet only through docker and docker compose commands;
// lokicall runs inside the node containers under a dedicated numeric uid.
package runner

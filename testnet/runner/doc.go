// Package runner drives calls through the docker compose testnet and
// measures them: mouth-to-ear delay from audio (a chirp train found by
// cross-correlation in the callee's recording, on the host clock both
// containers share), setup time, the path's RTT and jitter, lokicall's own
// statistics, the leak proof, relay failure and Lokinet's dynamics (session
// swaps, a replayed trace, path cuts, daemon restarts, loss during setup),
// each interruption measured from the callee's recording and lokicall's
// events. It writes JSON, CSV, a Markdown summary and PNG plots per run. A
// call that fails is a result of its scenario; a run fails when the
// testnet could not run or the leak proof failed (or, with Plan.Strict, on
// a failed call).
//
// It talks to the testnet only through docker and docker compose commands;
// lokicall runs inside the node containers under a dedicated numeric uid.
package runner

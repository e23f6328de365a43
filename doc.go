// Package lokicall holds module-wide tests; the code lives in the packages
// below it: lokinet, ice, media, signalling, call, demo, cmd/lokicall and
// testnet.
package lokicall

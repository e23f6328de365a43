//go:build !linux

package media

// quietAudioSystem does nothing outside Linux, where there is no libasound.
func quietAudioSystem() {}

package media

/*
#cgo LDFLAGS: -ldl
#include <dlfcn.h>

// lokicallAlsaQuiet is an ALSA error handler that drops the message.
static void lokicallAlsaQuiet(const char *file, int line, const char *function, int err, const char *fmt, ...) {}

// lokicallQuietAlsa loads libasound (miniaudio's later dlopen gets the same
// instance) and installs the silent handler; it does nothing without ALSA.
static void lokicallQuietAlsa(void) {
	void *h = dlopen("libasound.so.2", RTLD_NOW | RTLD_GLOBAL);
	if (h == NULL) {
		return;
	}
	int (*set)(void *) = (int (*)(void *))dlsym(h, "snd_lib_error_set_handler");
	if (set != NULL) {
		set((void *)lokicallAlsaQuiet);
	}
}
*/
import "C"

import "sync"

// quietAudioSystem stops libasound from printing its errors to stderr (it
// does so for every probe on a machine without a sound card): library code
// does not print. miniaudio reports the failures it cares about through its
// log callback, which goes to the injected logger.
var quietAudioSystem = sync.OnceFunc(func() { C.lokicallQuietAlsa() })

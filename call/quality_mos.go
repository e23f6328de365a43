package call

// residualLossPercent is the share of played frames that the listener heard
// as concealment (lost without FEC data, late, or missing at an underrun),
// in percent. Frames rebuilt from in-band FEC are not counted: the E-model's
// loss term (Ie,eff) describes what reaches the ear, and FEC is the codec's
// packet-loss robustness. It returns the network loss when nothing has been
// played yet.
func residualLossPercent(st *Stats) float64 {
	if st.FramesPlayed == 0 {
		return st.LossPercent
	}
	return 100 * float64(st.FramesConcealed) / float64(st.FramesPlayed)
}

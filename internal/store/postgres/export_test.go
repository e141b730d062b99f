package postgres

// MigrateTo exposes migrateTo to the tests.
var MigrateTo = migrateTo

// Versions lists the embedded migrations' versions, oldest first.
func Versions() []int {
	all, err := migrations()
	if err != nil {
		panic(err)
	}
	out := make([]int, len(all))
	for i, m := range all {
		out[i] = m.Version
	}
	return out
}

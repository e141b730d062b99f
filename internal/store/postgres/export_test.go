package postgres

// MigrateTo exposes migrateTo to the tests.
var MigrateTo = migrateTo

// MigrationVersions are the versions of the embedded migrations, oldest first.
func MigrationVersions() []int {
	all, err := migrations()
	if err != nil {
		panic(err)
	}
	var out []int
	for _, m := range all {
		out = append(out, m.Version)
	}
	return out
}

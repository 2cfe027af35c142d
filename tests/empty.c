/* Placeholder translation unit for a library folder that has no source yet. */
typedef int pgsift_empty_unit;

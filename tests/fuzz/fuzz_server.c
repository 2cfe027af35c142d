/*
 * fuzz_server: libFuzzer target for pgsift's server side: arbitrary backend bytes (login,
 * authentication requests, ParameterStatus, results, errors, COPY, notices, at any moment)
 * from the fake server, while a client runs the frames a real driver sent (wire_scripts.h).
 * The input format is in fuzz_wire.h; seeds/server holds PostgreSQL's real answers.
 */
#include <stddef.h>
#include <stdint.h>

#include "fuzz_wire.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	wire_run_server_input(data, size);
	return 0;
}

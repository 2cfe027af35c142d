/*
 * fuzz_client: libFuzzer target for pgsift's client side: the startup packet (SSLRequest,
 * GSSENCRequest, CancelRequest, protocol versions, parameters), authentication (trust, md5,
 * SCRAM-SHA-256, plain against the auth_file), the admin console, and every frontend message
 * in every state, with one or two clients sharing a pool, in front of a scripted in-process
 * PostgreSQL. The input format is in fuzz_wire.h; seeds/client holds real drivers' traffic.
 */
#include <stddef.h>
#include <stdint.h>

#include "fuzz_wire.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	wire_run_client_input(data, size);
	return 0;
}

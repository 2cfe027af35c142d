/* pgsift's entry point: placeholder until the proxy lands. */
#include <stdio.h>
int main(void)
{
	puts("pgsift");
	return 0;
}

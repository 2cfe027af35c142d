/* placeholder */ typedef int pgsift_proxy_empty;

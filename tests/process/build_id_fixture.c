/* A tiny program whose only purpose is its ELF notes: tests/process links it with a fixed
 * build-id, a sha1 build-id and no build-id. */
int main(void) { return 0; }

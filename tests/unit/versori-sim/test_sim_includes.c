/* Checks that versori-sim's modules do not include each other in a cycle: the graph whose nodes
 * are the basenames of services/versori-sim/ *.c and *.h files (sim.c and sim.h are one node,
 * "sim") and whose edges are their #include "x.h" lines must be acyclic (style.md §5: shared
 * types live in a lower-level header, not in a header that includes its users). */
#include <ctype.h>
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "xalloc.h"

#define SIM_DIR   SOURCE_ROOT "/services/versori-sim"
#define MAX_NODES 64
#define MAX_EDGES 32

/* One module (basename) and the modules its files include. */
struct node {
	char name[64];
	size_t edges[MAX_EDGES];
	size_t n_edges;
	int mark; /* 0 unvisited, 1 on the DFS stack, 2 done */
};

static struct node nodes[MAX_NODES];
static size_t n_nodes;

/* The node for a basename, added when new. */
static size_t node_get(const char *name, size_t len)
{
	for (size_t i = 0; i < n_nodes; i++)
		if (strlen(nodes[i].name) == len && memcmp(nodes[i].name, name, len) == 0)
			return i;
	assert_true(n_nodes < MAX_NODES && len < sizeof(nodes[0].name));
	memcpy(nodes[n_nodes].name, name, len);
	nodes[n_nodes].name[len] = '\0';
	return n_nodes++;
}

/* Add the edge from -> to once; a module including its own header is no edge. */
static void edge_add(size_t from, size_t to)
{
	struct node *n = &nodes[from];

	if (from == to)
		return;
	for (size_t i = 0; i < n->n_edges; i++)
		if (n->edges[i] == to)
			return;
	assert_true(n->n_edges < MAX_EDGES);
	n->edges[n->n_edges++] = to;
}

/* The basename of "dir/x.h" without its extension: start and length. */
static const char *base_of(const char *path, size_t len, size_t *ret_len)
{
	const char *start = path, *dot = NULL;

	for (size_t i = 0; i < len; i++) {
		if (path[i] == '/')
			start = path + i + 1;
		else if (path[i] == '.')
			dot = path + i;
	}
	*ret_len = (size_t)((dot && dot > start ? dot : path + len) - start);
	return start;
}

/* Record the #include "x.h" lines of one file as edges of its module. */
static void file_scan(const char *fname)
{
	_cleanup_free_ char *path = xasprintf("%s/%s", SIM_DIR, fname);
	FILE *f = fopen(path, "r");
	size_t blen, from;
	const char *base = base_of(fname, strlen(fname), &blen);
	char line[512];

	if (!f)
		fail_msg("%s: cannot open", path);
	from = node_get(base, blen);
	while (fgets(line, sizeof(line), f)) {
		const char *p = line, *q, *end;
		size_t len;

		while (isspace((unsigned char)*p))
			p++;
		if (*p++ != '#')
			continue;
		while (isspace((unsigned char)*p))
			p++;
		if (strncmp(p, "include", 7) != 0)
			continue;
		if (!(q = strchr(p + 7, '"')) || !(end = strchr(q + 1, '"')))
			continue; /* <system> headers are no modules of ours */
		q = base_of(q + 1, (size_t)(end - q - 1), &len);
		edge_add(from, node_get(q, len));
	}
	(void)fclose(f);
}

/* Whether name is a C source or header. */
static bool is_c_file(const char *name)
{
	size_t n = strlen(name);

	return n > 2 && name[n - 2] == '.' && (name[n - 1] == 'c' || name[n - 1] == 'h');
}

/* Depth-first search; on a back edge, print the cycle (stack[from..]) and return true. */
static bool cycle_find(size_t v, size_t *stack, size_t depth)
{
	stack[depth] = v;
	nodes[v].mark = 1;
	for (size_t i = 0; i < nodes[v].n_edges; i++) {
		size_t w = nodes[v].edges[i];

		if (nodes[w].mark == 1) {
			size_t k = 0;

			while (stack[k] != w)
				k++;
			printf("# include cycle:");
			for (; k <= depth; k++)
				printf(" %s ->", nodes[stack[k]].name);
			printf(" %s\n", nodes[w].name);
			return true;
		}
		if (nodes[w].mark == 0 && cycle_find(w, stack, depth + 1))
			return true;
	}
	nodes[v].mark = 2;
	return false;
}

/* The module include graph of services/versori-sim is acyclic. */
static void test_no_include_cycles(void **state)
{
	DIR *d = opendir(SIM_DIR);
	size_t stack[MAX_NODES], files = 0;
	struct dirent *de;

	if (!d)
		fail_msg("%s: cannot open", SIM_DIR);
	while ((de = readdir(d)))
		if (is_c_file(de->d_name)) {
			file_scan(de->d_name);
			files++;
		}
	(void)closedir(d);
	assert_true(files > 10);
	for (size_t v = 0; v < n_nodes; v++)
		if (nodes[v].mark == 0 && cycle_find(v, stack, 0))
			fail_msg("services/versori-sim modules include each other in a cycle");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_no_include_cycles),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

/* unit.h -- the one main() every CUnit suite shares: register a table, run it, print "N passed, N failed". */
#ifndef UNIT_H
#define UNIT_H

#include <stdio.h>

#include <CUnit/Basic.h>
#include <CUnit/CUnit.h>

struct unit_test {
	const char	*name;
	void		(*fn)(void);
};

static inline int
unit_main(const char *suite_name, const struct unit_test *tests)
{
	CU_pSuite	suite;
	unsigned	run, failed;

	if (CU_initialize_registry() != CUE_SUCCESS)
		return 2;
	suite = CU_add_suite(suite_name, NULL, NULL);
	for (; tests->name != NULL; tests++)
		CU_add_test(suite, tests->name, tests->fn);
	CU_basic_set_mode(CU_BRM_NORMAL);
	CU_basic_run_tests();
	run = CU_get_number_of_tests_run();
	failed = CU_get_number_of_tests_failed();
	CU_cleanup_registry();
	printf("unit %s: %u passed, %u failed\n", suite_name, run - failed, failed);
	return failed == 0 ? 0 : 1;
}

#endif

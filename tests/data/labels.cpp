// Tests of plugen/data/labels.hpp: CSV/npy label files, schema inference, bad cells.
#include "plugen/data.hpp"
#include "support.hpp"

using namespace plugen;

TEST_CASE("schemas are inferred from CSV cells", "[labels]") {
  plugen_test::TempDir dir("labels_infer");
  write_file_atomic(dir / "y.csv",
                    "id,smile,kind,age,glasses\n1,1,coat,31.5,true\n2,0,bag,,false\n3,,coat,40,\n4,1,shirt,NaN,yes\n");
  auto table = read_csv(dir / "y.csv");
  auto schema = infer_schema(table, {"id"});
  REQUIRE(schema.size() == 4);
  CHECK(schema[0].kind == AttributeKind::binary);
  CHECK(schema[1].kind == AttributeKind::categorical);
  CHECK(schema[1].classes == std::vector<std::string>{"bag", "coat", "shirt"});
  CHECK(schema[2].kind == AttributeKind::continuous);
  CHECK(schema[3].kind == AttributeKind::binary);
  auto labels = labels_from_csv(table, schema);
  CHECK(torch::equal(labels.mask, torch::tensor({{true, true, true, true},
                                                 {true, true, false, true},
                                                 {false, true, true, false},
                                                 {true, true, false, true}})));
  CHECK(labels.values[0][2].item<double>() == 31.5);
  CHECK(labels.values[1][1].item<double>() == 0);  // "bag"
  CHECK(labels.values[3][3].item<double>() == 1);  // "yes"
}

TEST_CASE("read_labels infers the schema when none is given, and uses one when given", "[labels]") {
  plugen_test::TempDir dir("labels_read");
  write_file_atomic(dir / "y.csv", "a,b\n1,2.5\n0,3.5\n");
  Schema inferred;
  auto labels = read_labels(dir / "y.csv", inferred);
  CHECK(inferred.size() == 2);
  CHECK(labels.rows() == 2);
  Schema given({{"b", AttributeKind::continuous, {}, 0, {}}});
  labels = read_labels(dir / "y.csv", given);
  CHECK(labels.values.size(1) == 1);
  CHECK(labels.values[1][0].item<double>() == 3.5);
}

TEST_CASE("bad label cells are config errors naming file, line and column", "[labels]") {
  plugen_test::TempDir dir("labels_bad");
  Schema schema({{"smile", AttributeKind::binary, {}, 0, {}},
                 {"cls", AttributeKind::categorical, {"x", "y"}, 0, {}},
                 {"age", AttributeKind::continuous, {}, 0, {}}});
  auto bad = [&](const std::string& body) {
    write_file_atomic(dir / "y.csv", "smile,cls,age\n" + body);
    return plugen_test::error_message<ConfigError>([&] { labels_from_csv(read_csv(dir / "y.csv"), schema); });
  };
  CHECK_THAT(bad("1,x,3\n2,x,3\n"), Catch::Contains("y.csv") && Catch::Contains("smile") && Catch::Contains("'2'"));
  CHECK_THAT(bad("1,zebra,3\n"), Catch::Contains("cls") && Catch::Contains("zebra") && Catch::Contains("x, y"));
  CHECK_THAT(bad("1,x,old\n"), Catch::Contains("age") && Catch::Contains("old"));
  CHECK_THAT(bad("1,5,1\n"), Catch::Contains("cls"));
  write_file_atomic(dir / "z.csv", "smile,cls\n1,x\n");
  CHECK_THAT(plugen_test::error_message<ConfigError>([&] { labels_from_csv(read_csv(dir / "z.csv"), schema); }),
             Catch::Contains("no column 'age'"));
  // Class indices are accepted for categorical attributes.
  write_file_atomic(dir / "y.csv", "smile,cls,age\n1,1,3\n");
  CHECK(labels_from_csv(read_csv(dir / "y.csv"), schema).values[0][1].item<double>() == 1);
}

TEST_CASE("npy labels with NaN as missing and an optional mask", "[labels]") {
  plugen_test::TempDir dir("labels_npy");
  Schema schema({{"a", AttributeKind::binary, {}, 0, {}}, {"b", AttributeKind::continuous, {}, 0, {}}});
  write_npy(dir / "y.npy", torch::tensor({{1.0, 2.0}, {std::nan(""), 4.0}, {0.0, 5.0}}));
  write_npy(dir / "m.npy", torch::tensor({{1, 1}, {1, 1}, {1, 0}}, torch::kUInt8));
  auto labels = labels_from_npy(dir / "y.npy", schema, dir / "m.npy");
  CHECK(torch::equal(labels.mask, torch::tensor({{true, true}, {false, true}, {true, false}})));
  CHECK(labels.values[1][0].item<double>() == 0);
  write_npy(dir / "bad.npy", torch::zeros({3, 3}));
  CHECK_THROWS_AS(labels_from_npy(dir / "bad.npy", schema), ShapeError);
  Schema empty;
  CHECK_THROWS_AS(read_labels(dir / "y.npy", empty), ConfigError);
}

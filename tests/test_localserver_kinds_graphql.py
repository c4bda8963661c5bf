"""GraphQL APIs on the local Microcks server: SDL main, Postman or APIExamples secondary, and what
`POST /graphql/{service}/{version}` answers (Microcks' GraphQLImporter and GraphQLController)."""

from __future__ import annotations

from localserver_fixtures import open_client, relaxed_schema_errors, sample

FILMS = "/graphql/Movie Graph API/1.0"
FILM_QUERY = "query film($id: String) { film(id: $id) { id title } }"


def films_client():
    client = open_client()
    assert client.upload(sample("films.graphql"), "films.graphql").status_code == 201
    answer = client.upload(sample("films-postman.json"), "films-postman.json", main=False)
    assert (answer.status_code, answer.text) == (201, "Movie Graph API:1.0")
    return client


def test_schema_gives_a_graphql_service_with_query_and_mutation_operations():
    client = films_client()

    view = client.get("/api/services/Movie Graph API:1.0").json()

    service = view["service"]
    assert service["type"] == "GRAPHQL"
    operations = {op["name"]: op for op in service["operations"]}
    assert [(n, op["method"]) for n, op in operations.items()] == [
        ("allFilms", "QUERY"),
        ("film", "QUERY"),
        ("addStar", "MUTATION"),
        ("addReview", "MUTATION"),
    ]
    # QUERY_ARGS only where every argument is a built-in scalar (Review is an input type).
    assert (operations["film"]["dispatcher"], operations["film"]["dispatcherRules"]) == (
        "QUERY_ARGS",
        "id",
    )
    assert "dispatcher" not in operations["allFilms"]
    assert "dispatcher" not in operations["addReview"]
    assert operations["addReview"]["inputName"] == "String, Review"
    criteria = {
        pair["response"]["name"]: pair["response"].get("dispatchCriteria")
        for pair in view["messagesMap"]["film"]
    }
    assert criteria == {
        "film ZmlsbXM6MQ==": "?id=ZmlsbXM6MQ==",
        "film ZmlsbXM6Mg==": "?id=ZmlsbXM6Mg==",
    }
    assert {p["request"]["sourceArtifact"] for p in view["messagesMap"]["film"]} == {
        "films-postman.json"
    }
    assert relaxed_schema_errors(view, "ServiceView") == []


def test_query_is_answered_by_the_example_its_variables_select_trimmed_to_the_selection():
    client = films_client()

    answer = client.post(FILMS, json={"query": FILM_QUERY, "variables": {"id": "ZmlsbXM6Mg=="}})

    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("application/json")
    assert answer.json() == {
        "data": {"film": {"id": "ZmlsbXM6Mg==", "title": "The Empire Strikes Back"}}
    }


def test_string_literal_arguments_dispatch_too_and_aliases_name_the_result():
    client = films_client()

    answer = client.post(
        "/graphql/Movie+Graph+API/1.0",
        json={"query": '{ first: film(id: "ZmlsbXM6MQ==") { title episodeID } }'},
    )

    assert answer.json() == {"data": {"first": {"title": "A New Hope", "episodeID": 4}}}


def test_nested_lists_are_trimmed_and_fragments_expanded():
    client = films_client()
    query = "query { allFilms { films { ...F } } } fragment F on Film { title }"

    answer = client.post(FILMS, json={"query": query})

    films = answer.json()["data"]["allFilms"]["films"]
    assert films[0] == {"title": "A New Hope"}
    assert all(set(film) == {"title"} for film in films)


def test_unknown_argument_value_and_unknown_field_are_refused_as_microcks_does():
    client = films_client()

    no_example = client.post(FILMS, json={"query": FILM_QUERY, "variables": {"id": "nope"}})
    no_field = client.post(FILMS, json={"query": "{ planets { name } }"})
    broken = client.post(FILMS, json={"query": "{ film( "})
    no_service = client.post("/graphql/Other/1.0", json={"query": "{ a }"})

    assert (no_example.status_code, no_example.text) == (400, "No matching response found")
    assert (no_field.status_code, no_field.text) == (404, "No 'planets' operation found")
    assert broken.status_code == 400
    assert broken.text.startswith("Error parsing GraphQL request: ")
    assert (no_service.status_code, no_service.text) == (
        404,
        "The service Other with version 1.0 does not exist!",
    )


def test_api_examples_secondary_computes_criteria_from_the_request_variables():
    client = open_client()
    client.upload(sample("films.graphql"), "films.graphql")
    examples = """apiVersion: mocks.microcks.io/v1alpha1
kind: APIExamples
metadata: {name: Movie Graph API, version: '1.0'}
operations:
  addStar:
    star one:
      request:
        body:
          query: 'mutation AddStar($filmId: String) { addStar(filmId: $filmId) { starCount } }'
          variables: {filmId: f1}
      response:
        mediaType: application/json
        body: {data: {addStar: {id: f1, starCount: 7, title: T}}}
"""
    assert client.upload(examples, "films-examples.yaml", main=False).status_code == 201

    answer = client.post(
        FILMS,
        json={
            "query": "mutation S($f: String) { addStar(filmId: $f) { starCount } }",
            "variables": {"f": "f1"},
        },
    )

    pair = client.get("/api/services/Movie Graph API:1.0").json()["messagesMap"]["addStar"][0]
    assert pair["response"]["dispatchCriteria"] == "?filmId=f1"
    assert answer.json() == {"data": {"addStar": {"starCount": 7}}}


def test_schema_without_microcks_id_or_unparseable_is_refused():
    client = open_client()

    no_id = client.upload("type Query {\n  a: String\n}\n", "a.graphql")
    malformed = client.upload("# microcksId: NoVersion\ntype Query {\n a: String\n}\n", "b.graphql")
    broken = client.upload("# microcksId: A:1\ntype Query {\n a: \n", "c.graphql")

    assert (no_id.status_code, no_id.text) == (
        400,
        "No microcksId: comment found into GraphQL schema to get API name and version",
    )
    assert (malformed.status_code, malformed.text) == (
        400,
        "microcksId comment is malformed. Expecting 'microcksId: <API_name>:<API_version>'",
    )
    assert (broken.status_code, broken.text) == (400, "GraphQL schema file parsing error")
    assert client.get("/api/services/count").json() == {"counter": 0}


def test_introspection_query_is_answered_from_the_stored_schema():
    client = films_client()
    query = "query { __schema { queryType { name } types { name } } }"

    answer = client.post(FILMS, json={"query": query})

    body = answer.json()
    assert answer.status_code == 200
    assert (body["errors"], body["dataPresent"]) == ([], True)
    assert body["data"]["__schema"]["queryType"] == {"name": "Query"}
    assert {"Film", "FilmsConnection", "Review"} <= {
        t["name"] for t in body["data"]["__schema"]["types"]
    }


def test_typename_is_answered_directly():
    client = films_client()

    answer = client.post(FILMS, json={"query": "mutation { __typename }"})

    assert answer.json() == {"data": {"__typename": "Mutation"}}


def test_api_metadata_json_body_dispatcher_picks_the_response_named_by_the_variables():
    client = open_client()
    client.upload(sample("films.graphql"), "films.graphql")
    client.upload(sample("films-metadata.yml"), "films-metadata.yml", main=False)
    client.upload(sample("films-postman.json"), "films-postman.json", main=False)
    mutation = (
        "mutation AddReview($filmId: String, $review: Review) "
        "{ addReview(filmId: $filmId, review: $review) { title } }"
    )

    known = client.post(
        FILMS, json={"query": mutation, "variables": {"filmId": "ZmlsbXM6Mg==", "review": {}}}
    )
    other = client.post(FILMS, json={"query": mutation, "variables": {"filmId": "other"}})

    operation = next(
        op
        for op in client.get("/api/services/Movie Graph API:1.0").json()["service"]["operations"]
        if op["name"] == "addReview"
    )
    assert operation["dispatcher"] == "JSON_BODY"
    assert known.json() == {"data": {"addReview": {"title": "The Empire Strikes Back"}}}
    # The `default` case names no example: Microcks answers 400.
    assert (other.status_code, other.text) == (400, "No matching response found")

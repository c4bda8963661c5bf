export interface Config {
  microcksPipeline?: {
    /**
     * Where the module reads which mocks microcks-pipeline serves in Microcks.
     */
    status?: {
      /**
       * Base URL of microcks-pipeline's status service, e.g. https://microcks-pipeline-status.example.com
       * (the module reads `<baseUrl>/api/v1/entities`).
       */
      baseUrl: string;
      /**
       * Bearer token the status service requires, when it requires one.
       * @visibility secret
       */
      token?: string;
      /**
       * How long one listing is reused before the next request, in seconds. Default 30.
       */
      cacheSeconds?: number;
      /**
       * Time limit of one request to the status service, in milliseconds. Default 5000.
       */
      timeoutMs?: number;
    };
  };
}

import { DynamicModule, Module } from '@nestjs/common';
import { APP_FILTER, APP_GUARD, DiscoveryModule } from '@nestjs/core';
import { CONFIG, type Config } from './infra/config/config';
import { PrismaService } from './infra/database/prisma.service';
import { RedisService } from './infra/redis/redis.service';
import { AuthGuard } from './infra/http/auth.guard';
import { MEMBER_TOKENS, USER_TOKENS } from './infra/http/principal';
import { ValidationGuard } from './infra/http/validation.guard';
import { ErrorFilter } from './infra/http/error.filter';
import { HealthController } from './infra/health/health.controller';
import { AuthController } from './features/auth/auth.controller';
import { AuthService } from './features/auth/auth.service';
import { ClustersController } from './features/clusters/clusters.controller';
import { ClustersService } from './features/clusters/clusters.service';
import { AgentsController } from './features/agents/agents.controller';
import { AgentAuthService } from './features/agents/agent-auth.service';
import { ClusterStateService } from './infra/cluster-state/cluster-state.service';
import { RefreshQueueService } from './infra/queue/refresh-queue.service';
import { MemberHub } from './features/member-channel/member-hub.service';
import { MemberRelay } from './features/member-channel/member-relay.service';
import { RefreshDispatcher } from './features/member-channel/refresh-dispatcher.service';
import { DataSourcesController } from './features/datasources/datasources.controller';
import { DataSourcesService } from './features/datasources/datasources.service';
import { QueriesController } from './features/queries/queries.controller';
import { QueryService } from './features/queries/query.service';
import { MembersController } from './features/members/members.controller';
import { MembersService } from './features/members/members.service';
import { AccessService } from './features/access/access.service';
import { AuditService } from './features/audit/audit.service';
import { RolesController } from './features/roles/roles.controller';
import { RolesService } from './features/roles/roles.service';
import { RateLimitService } from './features/auth/rate-limit.service';
import { DatasetsController } from './features/datasets/datasets.controller';
import { DatasetsService } from './features/datasets/datasets.service';
import { RefreshesController } from './features/refreshes/refreshes.controller';
import { RefreshesService } from './features/refreshes/refreshes.service';
import { RefreshLifecycle } from './features/refreshes/refresh-lifecycle.service';
import { RefreshRunsService } from './features/refreshes/refresh-runs.service';
import { SchedulerService } from './features/refreshes/scheduler.service';
import { ReconcilerService } from './features/refreshes/reconciler.service';
import { PgDoorService } from './features/pg-door/pg-door.service';
import { MetricsService } from './infra/metrics/metrics.service';
import { MetricsCollectors } from './features/metrics/metrics-collectors.service';
import { QueryStatsService } from './features/queries/query-stats.service';

/**
 * The API composed. infra/ holds what owns no table and no use case (connections, the request pipeline, logging,
 * metrics, health, cluster state); features/ holds the use cases and the tables they write. Features import infra,
 * never the other way: where infra needs a feature (the guard verifying tokens) it declares a token that a feature
 * provides here. tools/lint/import-cycles.spec.ts fails on a cycle or an infra -> feature import.
 */
@Module({})
export class AppModule {
  static forRoot(config: Config): DynamicModule {
    return {
      module: AppModule,
      imports: [DiscoveryModule],
      controllers: [HealthController, AuthController, ClustersController, MembersController, RolesController, DataSourcesController, QueriesController, DatasetsController, RefreshesController, AgentsController],
      providers: [
        { provide: CONFIG, useValue: config },
        PrismaService,
        RedisService,
        AuthService,
        RateLimitService,
        AccessService,
        AuditService,
        MembersService,
        RolesService,
        AgentAuthService,
        ClustersService,
        ClusterStateService,
        PgDoorService,
        MetricsService,
        MetricsCollectors,
        QueryStatsService,
        RefreshQueueService,
        MemberHub,
        MemberRelay,
        RefreshDispatcher,
        DataSourcesService,
        QueryService,
        DatasetsService,
        RefreshesService,
        RefreshLifecycle,
        RefreshRunsService,
        SchedulerService,
        ReconcilerService,
        // The guard verifies tokens through these, issued by the features that own them.
        { provide: USER_TOKENS, useExisting: AuthService },
        { provide: MEMBER_TOKENS, useExisting: AgentAuthService },
        // In this order: who is calling, then what they sent.
        { provide: APP_GUARD, useClass: AuthGuard },
        { provide: APP_GUARD, useClass: ValidationGuard },
        { provide: APP_FILTER, useClass: ErrorFilter },
      ],
    };
  }
}

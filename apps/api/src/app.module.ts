import { DynamicModule, Module } from '@nestjs/common';
import { APP_FILTER, APP_GUARD, DiscoveryModule } from '@nestjs/core';
import { CONFIG, type Config } from './config/config';
import { PrismaService } from './database/prisma.service';
import { RedisService } from './redis/redis.service';
import { AuthGuard } from './http/auth.guard';
import { ValidationGuard } from './http/validation.guard';
import { ErrorFilter } from './http/error.filter';
import { HealthController } from './health/health.controller';
import { AuthController } from './auth/auth.controller';
import { AuthService } from './auth/auth.service';
import { ClustersController } from './clusters/clusters.controller';
import { ClustersService } from './clusters/clusters.service';
import { AgentsController } from './agents/agents.controller';
import { AgentAuthService } from './agents/agent-auth.service';
import { ClusterStateService } from './cluster-state/cluster-state.service';
import { RefreshQueueService } from './queue/refresh-queue.service';
import { MemberHub } from './member-channel/member-hub.service';
import { MemberRelay } from './member-channel/member-relay.service';
import { RefreshDispatcher } from './member-channel/refresh-dispatcher.service';
import { DataSourcesController } from './datasources/datasources.controller';
import { DataSourcesService } from './datasources/datasources.service';
import { QueriesController } from './queries/queries.controller';
import { QueryService } from './queries/query.service';
import { MembersController } from './members/members.controller';
import { MembersService } from './members/members.service';
import { AccessService } from './access/access.service';
import { AuditService } from './audit/audit.service';
import { RolesController } from './roles/roles.controller';
import { RolesService } from './roles/roles.service';
import { RateLimitService } from './auth/rate-limit.service';
import { DatasetsController } from './datasets/datasets.controller';
import { DatasetsService } from './datasets/datasets.service';
import { RefreshesController } from './refreshes/refreshes.controller';
import { RefreshesService } from './refreshes/refreshes.service';
import { RefreshLifecycle } from './refreshes/refresh-lifecycle.service';
import { RefreshRunsService } from './refreshes/refresh-runs.service';
import { SchedulerService } from './refreshes/scheduler.service';
import { ReconcilerService } from './refreshes/reconciler.service';
import { PgDoorService } from './pg-door/pg-door.service';
import { MetricsService } from './metrics/metrics.service';
import { MetricsCollectors } from './metrics/metrics-collectors.service';
import { QueryStatsService } from './queries/query-stats.service';

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
        // In this order: who is calling, then what they sent.
        { provide: APP_GUARD, useClass: AuthGuard },
        { provide: APP_GUARD, useClass: ValidationGuard },
        { provide: APP_FILTER, useClass: ErrorFilter },
      ],
    };
  }
}

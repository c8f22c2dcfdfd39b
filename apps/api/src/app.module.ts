import { DynamicModule, Module } from '@nestjs/common';
import { APP_FILTER, APP_GUARD, APP_INTERCEPTOR, DiscoveryModule } from '@nestjs/core';
import { CONFIG, type Config } from './config/config';
import { PrismaService } from './database/prisma.service';
import { RedisService } from './redis/redis.service';
import { AuthGuard } from './http/auth.guard';
import { ValidationInterceptor } from './http/validation.interceptor';
import { ErrorFilter } from './http/error.filter';
import { HealthController } from './health/health.controller';
import { AuthController } from './auth/auth.controller';
import { AuthService } from './auth/auth.service';
import { ClustersController } from './clusters/clusters.controller';
import { ClustersService } from './clusters/clusters.service';
import { AgentsController } from './agents/agents.controller';
import { AgentAuthService } from './agents/agent-auth.service';

@Module({})
export class AppModule {
  static forRoot(config: Config): DynamicModule {
    return {
      module: AppModule,
      imports: [DiscoveryModule],
      controllers: [HealthController, AuthController, ClustersController, AgentsController],
      providers: [
        { provide: CONFIG, useValue: config },
        PrismaService,
        RedisService,
        AuthService,
        AgentAuthService,
        ClustersService,
        { provide: APP_GUARD, useClass: AuthGuard },
        { provide: APP_INTERCEPTOR, useClass: ValidationInterceptor },
        { provide: APP_FILTER, useClass: ErrorFilter },
      ],
    };
  }
}
